import type { Strings } from './en.js';

/**
 * Le français. Typography: a no-break space (\u00a0) before ":" and a narrow one (\u202f)
 * before ";", "!", "?" and inside « », written as escapes so they can be seen; a unit test
 * checks every string. Neutral wording rather than masculine-only forms ("Inscription
 * confirmée", not "Vous êtes inscrit").
 */
export const fr: Strings = {
  siteLabel: (name, host) => (name ? `${name} (${host})` : host),

  page: {
    listLabel: 'Liste',
    addressLabel: 'Adresse',
    typedAddressLabel: 'Adresse saisie',
    backToSite: (site) => `Revenir sur ${site}`,
    thisList: 'cette liste',

    thanksTitle: 'Consultez votre boîte de réception',
    thanksBody: 'Si cette adresse peut être inscrite, un e-mail de confirmation est en route. Aucun n’est envoyé si elle est déjà inscrite, si elle a demandé à ne plus rien recevoir ou si elle en a reçu un il y a quelques minutes.',
    thanksNext: (days) => `Ouvrez l’e-mail et appuyez sur son bouton pour confirmer. Regardez dans votre boîte de réception, et dans le dossier des indésirables (spams), d’ici ${days}\u00a0jours\u00a0: passé ce délai, le lien expire.`,
    typoHint: 'Une faute de frappe dans l’adresse\u202f? Revenez en arrière et inscrivez-vous à nouveau avec la bonne adresse.',

    confirmTitle: 'Confirmez votre inscription',
    confirmBody: 'Appuyez sur le bouton pour confirmer que vous souhaitez recevoir cette liste.',
    confirmListBody: (list) => `Appuyez sur le bouton pour confirmer que vous souhaitez recevoir ${list}.`,
    confirmButton: 'Confirmer mon inscription',
    confirmedTitle: 'Inscription confirmée',
    confirmedBody: (list) => `Merci\u00a0: votre inscription à ${list} est confirmée.`,
    alreadyConfirmedBody: (list) => `Votre inscription à ${list} était déjà confirmée. Vous n’avez rien d’autre à faire.`,
    confirmedNext: 'Chaque e-mail que nous vous envoyons contient un lien de désinscription\u00a0: vous pouvez vous désinscrire à tout moment.',
    expiredTitle: 'Ce lien a expiré',
    expiredBody: 'Ce lien de confirmation n’est plus valable. Inscrivez-vous à nouveau et nous vous en enverrons un autre.',
    expiredElsewhereBody: 'Ce lien de confirmation n’est plus valable. Inscrivez-vous à nouveau là où vous l’aviez fait, et nous vous en enverrons un autre.',
    emailLabel: 'Adresse e-mail',
    signupAgainButton: 'M’envoyer un nouvel e-mail de confirmation',

    errorTitle: 'Un problème est survenu',
    errorCode: (code) => `Code d’erreur\u00a0: ${code}`,
    back: 'Retour',

    unsubscribeTitle: 'Se désinscrire',
    unsubscribeBody: (list) => `Appuyez sur un bouton pour ne plus recevoir ${list} à cette adresse, ou plus aucune de nos listes.`,
    unsubscribeButton: (list) => `Me désinscrire de ${list}`,
    unsubscribeAllButton: 'Me désinscrire de toutes les listes',
    unsubscribeAllHint: 'Ou ne plus rien recevoir de notre part à cette adresse\u00a0:',
    notMeTitle: 'Ce n’était pas vous\u202f?',
    notMeBody: (list) => `Quelqu’un a demandé à recevoir ${list} à cette adresse. Si ce n’était pas vous, appuyez sur le bouton\u00a0: la demande sera annulée et cette adresse ne recevra plus jamais de message de notre part.`,
    notMeButton: 'Ce n’était pas moi\u00a0: ne plus écrire à cette adresse',
    cancelledTitle: 'Demande annulée',
    cancelledBody: (list) => `La demande d’inscription à ${list} est annulée. Cette adresse ne recevra plus aucun message de notre part, sauf si vous vous inscrivez vous-même.`,
    cancelledUndoButton: 'C’était bien moi\u00a0: m’inscrire',
    unsubscribedTitle: 'Désinscription effectuée',
    unsubscribedBody: (list) => `Cette adresse ne recevra plus ${list}.`,
    unsubscribedAllBody: 'Cette adresse ne recevra plus aucun message de notre part.',
    resubscribeHint: 'Vous avez appuyé par erreur\u202f?',
    resubscribeButton: 'C’était une erreur\u00a0: me réinscrire',
    resubscribedTitle: 'Bon retour parmi nous',
    resubscribedBody: (list) => `Votre inscription à ${list} est de nouveau active.`,
    resubscribedPendingBody: (list) => `Si cette adresse peut être inscrite, un nouvel e-mail de confirmation pour ${list} est en route. Ouvrez-le et appuyez sur son bouton pour confirmer.`,
    resubscribedPendingNext: (days) => `Regardez dans votre boîte de réception, et dans le dossier des indésirables (spams), d’ici ${days}\u00a0jours.`,
  },

  errors: {
    fallback: 'Cette demande n’a pas pu aboutir. Réessayez, ou revenez sur le site d’où vous venez.',
    invalid_email: 'Cette adresse e-mail ne semble pas correcte. Vérifiez-la et réessayez.',
    missing_field: 'Un champ obligatoire du formulaire est vide. Remplissez-le et réessayez.',
    invalid_field: 'Un champ du formulaire contient une valeur inutilisable. Vérifiez-le et réessayez.',
    field_too_long: 'Un champ du formulaire est trop long. Raccourcissez-le et réessayez.',
    invalid_locale: 'Le formulaire demande une langue dont le code n’est pas valable.',
    captcha_failed: 'La vérification anti-robot a échoué. Veuillez réessayer.',
    captcha_unavailable: 'La vérification anti-robot est indisponible pour le moment. Réessayez dans un instant.',
    rate_limited: 'Trop de demandes sont venues de votre réseau. Patientez une minute, puis réessayez.',
    unknown_list: 'Cette liste n’existe pas, ou n’accepte plus d’inscriptions.',
    missing_token: 'Ce lien est incomplet. Ouvrez-le à nouveau depuis l’e-mail, tel quel.',
    invalid_token: 'Ce lien n’est pas valable. Ouvrez-le à nouveau depuis l’e-mail, tel quel.',
    expired_token: 'Ce lien a expiré. Inscrivez-vous à nouveau pour en recevoir un autre.',
    expired: 'Ce lien de confirmation a expiré. Inscrivez-vous à nouveau pour en recevoir un autre.',
    unknown_subscription: 'Cette inscription n’existe plus\u00a0: cette adresse ne reçoit plus rien de notre part.',
    subscription_closed: 'Cette demande a été annulée. Pour recevoir la liste, inscrivez-vous à nouveau.',
    address_blocked: 'Cette adresse a demandé à ne plus recevoir nos messages\u00a0: elle ne peut donc être ni confirmée ni inscrite depuis cette page. Pour changer cela, contactez le site.',
    not_found: 'Cette page n’existe pas.',
    internal_error: 'Un problème est survenu de notre côté. Réessayez dans un instant.',
    payload_too_large: 'Le formulaire a envoyé trop de données.',
    too_many_fields: 'Le formulaire a envoyé trop de champs.',
    invalid_body: 'Le formulaire n’a pas pu être lu.',
    request_aborted: 'La demande a été interrompue avant d’arriver. Veuillez réessayer.',
    unsupported_media_type: 'Le formulaire a été envoyé dans un format que ce service ne lit pas.',
    unsupported_encoding: 'Le formulaire a été envoyé dans un encodage que ce service ne lit pas.',
    unsupported_charset: 'Le formulaire a été envoyé dans un jeu de caractères que ce service ne lit pas.',
  },
};
